"""The one forecast path: a typed query answered from a trained model package."""
