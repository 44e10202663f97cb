"""`mals generate`: plan the samples, then draw one image per sample with an image backend."""
