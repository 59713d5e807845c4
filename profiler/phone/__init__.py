"""The phone model: published measurements, spec sheets, and the predictor fitted to them."""

HOW_PREDICTIONS_WORK = (
    "Every number about a phone is a prediction, not a measurement. Speed comes from a model of "
    "llama.cpp on the phone's CPU: the bytes each token reads over the memory bandwidth, and the "
    "work of the quantization's own kernels (current llama.cpp runs Q4_0, Q8_0 and the K-quants "
    "as repacked int8 code on ARM, I-quants not; measurements of older builds count as other "
    "kernels) over the cores the threads run on, the slowest core pacing the others; its constants "
    "are fitted to about a thousand published phone measurements (profiles/measurements/), and a "
    "phone is described by its spec sheet (core types, clocks, memory), so one never measured is "
    "still predicted. GPU and NPU speeds are predicted only where phones with that backend were "
    "measured. Energy is the phone's power while decoding (fitted to published power measurements) "
    "divided by the predicted speed, so its error includes the speed's. "
    "Each figure carries its error: the median error of such predictions on phones the fit never "
    "saw (docs/FIDELITY.md); expect about that, and up to the stated 90th percentile for kernels "
    "or cores the data barely covers. Where someone measured the same phone, model and "
    "quantization, that measurement is shown beside the prediction."
)
