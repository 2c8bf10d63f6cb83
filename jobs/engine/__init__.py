"""The jobs engine: enqueue → broker → worker → result, with no Django imports.

Read it in the order a task travels: task.py (declare and send) → message.py (the wire format) →
broker.py and lua/ (Redis) → worker/ (supervisor, consumer, execute) → results.py and asyncresult.py.
"""
