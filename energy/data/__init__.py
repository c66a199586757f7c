"""Reading, importing, cleaning, generating and splitting load data."""
