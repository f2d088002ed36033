"""Tests of actors.scheduling.placement: placement and the fallback chain."""
