"""The phone model: published measurements, spec sheets, and the predictor fitted to them."""
