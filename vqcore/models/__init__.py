"""Small neural models that the experiments put quantizers into (image VQ-VAE, voice conversion)."""
