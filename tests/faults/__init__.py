"""Fault-injection scenarios: real processes on loopback, faults injected by the tests."""
