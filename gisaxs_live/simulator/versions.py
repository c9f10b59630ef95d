"""What the patterns of earlier simulator versions lack against this release's, for the card of a model trained on
them (``classify/card.py``); the changes themselves are listed at ``SIMULATOR_VERSION``."""

#: version → how its training patterns differ from this release's, in words (with its resolution, which its sets did
#: not record). 1.2's figures: 96 draws of the bundled model's training set (``random_specs(2500, 0, 0.2,
#: Randomisation())``, 12 per class) simulated by 1.2 (commit 009d072) and by 1.4, on the default experiment and grid
EARLIER: dict[str, str] = {
    "1.2": ("its fixed resolution (size_samples 11, orientation_samples 12, z_nodes 24) left tall particles, broad "
            "size distributions and triangular prisms under-resolved: of 96 draws of the bundled model's training set "
            "(12 per class) simulated again by 1.4, 35 differ somewhere by more than 5 of the 255 grey levels "
            "(capsules in 9 of 12), by up to 76 (a hemispheroid), though by 0.4 levels on the median image's average; and its "
            "Schulz size distribution had the standard deviation fwhm/2.355, not the full width `fwhm` at half "
            "maximum (over the set's Schulz draws 0.72–1.0× `fwhm`, 0.98× on the median draw)"),
}
