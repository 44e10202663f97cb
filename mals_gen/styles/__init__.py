"""Caption styles mined from human descriptions (`mals styles`) and drawn per caption request."""
