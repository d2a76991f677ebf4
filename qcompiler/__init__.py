"""qcompiler: compile trained float models into quantized models for CPUs and microcontrollers."""

__version__ = "0.1.0"
