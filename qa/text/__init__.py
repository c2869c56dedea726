"""Text primitives every stage shares: sentence spans, tiktoken encodings, the keyword terms, the
one grammar of [n] citation markers, and the one normaliser of chat turns. Imports nothing of the
project but `errors` and `types`."""
