"""gisaxs-live: live CNN classification of GISAXS frames by nanoparticle shape."""

__version__ = "0.1.0"
