"""Knowledge: chunking notes and articles, analysing text, ranking chunks for a question."""
