"""Applications of sentence embeddings: paraphrase mining, text classification."""
