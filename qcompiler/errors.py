"""Errors qcompiler reports to users.

Every error a user can cause (a bad file, key, value, shape, pipeline) is a
:class:`QCompilerError`.  The CLI prints ``qcompiler: error: <message>`` as one line and exits
non-zero; a traceback is shown only with ``--debug``.  Messages name the file, node, key or
value at fault.
"""

from __future__ import annotations


class QCompilerError(Exception):
    """Base class of every error caused by user input; its message is one line."""

    exit_code = 1


class ModelLoadError(QCompilerError):
    """The model file or proto cannot be read or is not a valid model."""


class VerificationError(QCompilerError):
    """The IR breaks an invariant (SSA, types, order, dangling uses)."""


class PipelineError(QCompilerError):
    """A pipeline text names an unknown pass or option, or has a bad value."""


class PassError(QCompilerError):
    """A pass raised; the message names the pass and the plugin that registered it."""


class ConfigError(QCompilerError):
    """A configuration key is unknown or its value is out of range."""


class DataError(QCompilerError):
    """Calibration or input data is missing, malformed, of the wrong shape or non-finite."""


class BackendError(QCompilerError):
    """A backend cannot emit the model (for example an op with no kernel)."""
