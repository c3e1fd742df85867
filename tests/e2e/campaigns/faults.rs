//! Faults under which each member still gets exactly one message.
