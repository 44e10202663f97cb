"""mals: build a MALS-style text-based person retrieval dataset in resumable stages."""
__version__ = "0.1.0"
