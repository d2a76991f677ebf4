"""The standalone C backend: int8 and float32 kernels in real C files (``kernels/``), the
lowering of a quantized IR module to a kernel schedule, the arena plan and the jinja2 templates
of the generated library."""
