"""The ReF-LDM model. torch and diffusers are imported inside this package only."""
