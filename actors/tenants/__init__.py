"""Tenants: their quotas (configured, changeable at run time, persisted) and the
authorisation of priority classes that goes with them."""
