"""The bundled GISAXS simulator: DWBA form factors of supported islands, Percus–Yevick interference,
decoupling approximation and log-normal size distributions, on the model's canonical q-grid."""

SIMULATOR_VERSION = "1.1"  # 1.1: conjugated Fresnel coefficients in the DWBA terms
