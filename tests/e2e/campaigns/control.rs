//! Pause, resume and cancel, bad input at acceptance.
