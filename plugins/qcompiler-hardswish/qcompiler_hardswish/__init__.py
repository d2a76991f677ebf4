"""qcompiler plugin recognizing the decomposed hard-swish."""
