"""The lecture's "how deep learning works" demos, one command each (`deepwild lecture ...`)."""
