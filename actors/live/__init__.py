"""The live path: routers that send live work straight to a worker, and the socket
channel they use instead of a Ray call per request (Ray stays the control plane).
"""
