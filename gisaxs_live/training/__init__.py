"""Training, augmentation and evaluation of the shape classifier."""
