"""Every Lua script's spec: its KEYS and ARGV by name, in the order of the script's header (lua/),
with the script object to call it by (scripts.py says how). One module a side of the broker:
consuming.py (what a consumer does with a delivery), sending.py (what puts a message on a queue),
leasing.py (leases and the maintenance that takes back what no one renews), operating.py (what
operators, beat and the recorders do).
"""
