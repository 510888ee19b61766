"""The face library: persons, face images, feature extraction, the vector index and match search."""
