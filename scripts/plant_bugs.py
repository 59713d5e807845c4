"""Plant known bugs one at a time, run the tests that should catch each, restore the file.

A test that cannot fail proves nothing: each line below is a plausible one-line bug (the first
eleven are the ones a review planted and the suite then missed) and the test that now catches it.
Prints CAUGHT or MISSED per bug; exit status 1 if any was missed. Restores every file, even on
Ctrl-C. Run it on a clean work tree: `make planted` (about 3 minutes).

Usage: .venv/bin/python scripts/plant_bugs.py [WORD ...]   (only the bugs whose name holds a WORD)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUGS: list[tuple[str, str, str, str, list[str]]] = [
    (
        "footprint counted as RSS",
        "profiler/run/sampler.py",
        'footprint_mb=(mem.get("anon", 0) + mem.get("swap", 0)) / MB',
        'footprint_mb=mem.get("rss", 0) / MB',
        ["tests/test_run.py::test_mapped_weights_count_in_rss_but_not_in_the_footprint"],
    ),
    (
        "weights sized from the file size",
        "profiler/phone/shape.py",
        "else float(model.tensor_bytes)",
        "else float(model.file_size_bytes)",
        ["tests/test_predict.py::test_memory_by_hand"],
    ),
    (
        "RUNTIME_BASE_MB halved",
        "profiler/phone/predict.py",
        "RUNTIME_BASE_MB = 36.3",
        "RUNTIME_BASE_MB = 36.3 / 2",
        ["tests/test_predict.py"],
    ),
    (
        "outcome banner not escaped",
        "profiler/report/report_html.py",
        "{_e(describe.outcome(report))}</div>",
        "{describe.outcome(report)}</div>",
        ["tests/test_reports.py::test_a_hostile_error_in_the_outcome_banner_is_escaped_and_the_page_may_fetch_nothing"],
    ),
    (
        "CSP removed",
        "profiler/report/report_html.py",
        'f"<meta http-equiv=\'Content-Security-Policy\' content=\\"{CSP}\\">"',
        '""',
        ["tests/test_reports.py::test_a_hostile_error_in_the_outcome_banner_is_escaped_and_the_page_may_fetch_nothing"],
    ),
    (
        "CSV rss_mb written from anon_mb",
        "profiler/report/export_csv.py",
        '("rss_mb", "rss_mb"),',
        '("anon_mb", "rss_mb"),',
        ["tests/test_reports.py::test_csv_files_load_back_to_the_json_numbers"],
    ),
    (
        "check mark on the worse value",
        "profiler/report/compare.py",
        '(min(known) if metric.better == "lower" else max(known))',
        '(max(known) if metric.better == "lower" else min(known))',
        ["tests/test_bad_state.py::test_hours_of_decoding_has_no_better_side_energy_per_token_does"],
    ),
    (
        "ladder no-KL fallback picks the fewest bits",
        "profiler/ladder.py",
        'return str(max(fits, key=lambda e: e["weights_mb"])["quant"])',
        'return str(min(fits, key=lambda e: e["weights_mb"])["quant"])',
        ["tests/test_ladder_choice.py::test_best_fitting_is_the_lowest_kl_wherever_it_stands_else_the_most_bits"],
    ),
    (
        "ladder picks the first fitting member",
        "profiler/ladder.py",
        'return str(min(scored, key=lambda e: (e["kl_divergence"], e["file_size_mb"]))["quant"])',
        'return str(scored[0]["quant"])',
        ["tests/test_ladder_choice.py::test_best_fitting_is_the_lowest_kl_wherever_it_stands_else_the_most_bits"],
    ),
    (
        "speed governor switched off",
        "profiler/run/throttle.py",
        "        if self.target_tps is None or self.target_tps <= 0:\n            return\n        stamps",
        "        if True:\n            return\n        stamps",
        [
            "tests/test_governor.py",
            "tests/test_emulation.py::test_a_poisoned_calibration_is_overruled_by_the_run_and_dropped",
        ],
    ),
    (
        "DRAM limit never written",
        "profiler/run/limits.py",
        "            cgroup.set_memory_max(int(plan.dram_mb * MB))\n",
        "            pass\n",
        ["tests/test_run.py::test_the_dram_cap_is_the_kernels_and_its_oom_kill_is_reported_as_dram_limit"],
    ),
    (
        "no close watch near the budget (50 Hz only)",
        "profiler/run/sampler.py",
        "        return headroom <= NEAR_FRACTION * self.budget_mb or headroom <= 1.5 * reach",
        "        return False",
        ["tests/test_run.py::test_a_loading_model_is_killed_within_5_percent_of_the_budget"],
    ),
    (
        "SIGTERM ends the CLI without a report",
        "profiler/cli/interrupt.py",
        'SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")',
        'SIGNALS = ("SIGINT", "SIGHUP")',
        ["tests/test_run.py::test_a_signal_on_the_cli_writes_a_stopped_report_and_keeps_the_history"],
    ),
    (
        "NaN accepted as a number",
        "profiler/run/config.py",
        "        _finite(name, getattr(config, name))",
        "        pass",
        ["tests/test_bad_state.py::test_not_a_number_is_refused_in_one_line_naming_the_option"],
    ),
    (
        "a corrupt history is not moved aside",
        "profiler/report/history.py",
        "        move_aside(path)\n",
        "        raise\n",
        ["tests/test_bad_state.py::test_a_corrupt_history_is_kept_aside_and_a_new_one_started"],
    ),
    (
        "an oversubscribed run kept as the calibration",
        "profiler/run/calibrate.py",
        "    if threads > len(host_cores()):",
        "    if False:",
        ["tests/test_bad_state.py::test_more_threads_than_the_host_is_warned_marked_and_never_a_calibration"],
    ),
    (
        "a crashed run's socket folder and cgroup never swept",
        "profiler/run/session.py",
        "        leftovers.sweep()  # what a parent killed with SIGKILL could not remove\n",
        "",
        ["tests/test_chaos.py"],
    ),
    (
        "the child outlives a parent killed with SIGKILL",
        "profiler/run/worker.py",
        "    _die_with_parent()\n",
        "",
        ["tests/test_chaos.py"],
    ),
    (
        "the app dies on SIGTERM without keeping its run",
        "ui/app.py",
        '    for name in ("SIGTERM", "SIGHUP"):',
        "    for name in ():",
        ["tests/test_gui_signals.py"],
    ),
    (
        "--seed ignored by the sampler",
        "profiler/run/worker.py",
        '            seed=config["seed"],',
        "            seed=42,",
        ["tests/test_promises.py::test_seed_and_temperature_decide_the_tokens"],
    ),
    (
        "--raw ignored",
        "profiler/run/worker.py",
        '    if config["raw"] or not template:',
        "    if not template:",
        ["tests/test_promises.py::test_raw_skips_the_chat_template"],
    ),
    (
        "hours of decoding marked better when longer",
        "profiler/report/compare.py",
        'Metric("energy.hours_continuous", "hours of continuous decoding", "h", "", ",.2f")',
        'Metric("energy.hours_continuous", "hours of continuous decoding", "h", "higher", ",.2f")',
        ["tests/test_bad_state.py::test_hours_of_decoding_has_no_better_side_energy_per_token_does"],
    ),
    (
        "carriage returns in logged progress",
        "profiler/cli/ladder_cmd.py",
        "    if not sys.stderr.isatty():",
        "    if False:",
        ["tests/test_bad_state.py::test_progress_in_a_log_is_plain_lines"],
    ),
    (
        "the history without the quantization",
        "profiler/cli/history_cmd.py",
        '        quant = str(r.get("quantization") or "—")[:8]',
        '        quant = "—"',
        ["tests/test_bad_state.py::test_history_shows_the_quantization_and_an_ambiguous_id_lists_its_matches"],
    ),
    (
        "--gpu-layers on a CPU-only build silent",
        "profiler/run/session.py",
        '            self._warn_if_no_gpu(record.child["engine"])\n',
        "",
        ["tests/test_bad_state.py::test_gpu_layers_on_a_cpu_only_build_says_it_did_nothing"],
    ),
    (
        "an empty report path accepted",
        "profiler/paths.py",
        "    if not text.strip():",
        "    if False:",
        ["tests/test_bad_state.py::test_an_empty_report_path_is_one_line"],
    ),
    (
        "a too-long prompt overwrites a good report",
        "profiler/cli/run_cmd.py",
        "    if record.error_kind in BAD_INPUT_KINDS and not record.tokens:",
        "    if False:",
        ["tests/test_bad_state.py::test_a_prompt_longer_than_the_context_leaves_an_existing_report_as_it_was"],
    ),
    (
        "slow tokens left untinted",
        "ui/output.py",
        "            if alpha:",
        "            if False:",
        ["tests/test_gui_promises.py::test_slow_tokens_are_tinted_by_how_slow_and_calm_ones_are_not"],
    ),
    (
        "tight and killed badges swapped",
        "profiler/phone/predict.py",
        '    return "tight" if total_mb <= budget_mb else "killed"',
        '    return "killed" if total_mb <= budget_mb else "tight"',
        ["tests/test_gui_promises.py::test_the_fit_badge_says_fits_tight_or_killed_from_the_prediction"],
    ),
    (
        "the ladder's shortcut lost",
        "ui/main_window.py",
        'ladder_action.setShortcut(QKeySequence("Ctrl+Shift+L"))',
        "ladder_action.setShortcut(QKeySequence())",
        ["tests/test_gui_promises.py::test_each_menu_shortcut_does_what_its_menu_says"],
    ),
    (
        "double-click opens nothing",
        "ui/history_panel.py",
        "        self.tree.itemActivated.connect(self._activated)\n",
        "",
        ["tests/test_gui_promises.py::test_double_clicking_a_past_run_reopens_it"],
    ),
    (
        "compare runs only the first phone",
        "ui/compare_view.py",
        "pairs = [(m, p) for m in models for p in profiles]",
        "pairs = [(m, p) for m in models for p in profiles[:1]]",
        ["tests/test_gui_promises.py::test_one_model_on_several_phones_runs_each_in_turn_and_compares_them"],
    ),
    (
        "the GPU's energy counter read as 0 J",
        "profiler/run/host_energy.py",
        'parts.append((max(0.0, end - self._gpu_start), f"NVML ({self.gpu.name})"))',
        'parts.append((0.0, f"NVML ({self.gpu.name})"))',
        ["tests/test_gpu.py"],
    ),
    (
        "--throttle quota gives the child every CPU",
        "profiler/run/mechanisms.py",
        "    return plan.speed_factor * plan.threads",
        "    return float(plan.threads)",
        ["tests/test_promises.py::test_throttle_quota_slows_the_child_by_a_cpu_quota"],
    ),
    (
        "run --pdf writes no PDF",
        "profiler/report/exports.py",
        "_plugin_help(name, entry), _one_file(write)))",
        "_plugin_help(name, entry), _one_file(lambda reports, path: None)))",
        ["tests/test_promises.py::test_run_writes_html_and_csv_and_report_takes_a_run_id"],
    ),
    (
        "a run id not looked up in the history",
        "profiler/report/compare.py",
        "            reports.append(history.load(str(path)))  # a run id",
        '            raise BadInput(f"{path}: report not found")',
        ["tests/test_promises.py::test_run_writes_html_and_csv_and_report_takes_a_run_id"],
    ),
    (
        "a crashed run exits 0",
        "profiler/cli/run_cmd.py",
        '"killed": 3, "error": 1}',
        '"killed": 3, "error": 0}',
        ["tests/test_promises.py::test_a_child_crash_through_the_cli_is_exit_1_with_an_error_report"],
    ),
    (
        "a sweep runs only the first phone",
        "profiler/sweep.py",
        "for m in models for p in profiles]",
        "for m in models for p in profiles[:1]]",
        ["tests/test_promises.py::test_a_sweep_over_several_phones_runs_each_under_its_own_profile"],
    ),
    (
        "a stop that meets a dead child called a lost child",
        "profiler/run/session.py",
        "                except OSError:\n                    break  # the child is already gone",
        "                except ValueError:\n                    break  # the child is already gone",
        ["tests/test_run.py::test_a_child_killed_as_the_stop_goes_out_is_a_stop_never_a_lost_child"],
    ),
]


def main() -> int:
    only = sys.argv[1:]
    missed = 0
    for name, rel, old, new, tests in BUGS:
        if only and not any(word in name for word in only):
            continue
        path = ROOT / rel
        text = path.read_text()
        if text.count(old) != 1:
            print(f"STALE   {name}: the line to change is not in {rel} once; update this script")
            missed += 1
            continue
        path.write_text(text.replace(old, new))
        try:
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests]
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)
        finally:
            path.write_text(text)
        last = (done.stdout.strip().splitlines() or ["?"])[-1]
        caught = done.returncode != 0
        missed += not caught
        print(f"{'CAUGHT' if caught else 'MISSED'}  {name}  ({rel}) by {' '.join(tests)}: {last}", flush=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
