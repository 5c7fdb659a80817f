"""Test harness for the simulated device lab: small protocol clients and the netns lab."""
