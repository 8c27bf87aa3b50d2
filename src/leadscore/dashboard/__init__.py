"""The dashboard (SPEC section 4b): server-rendered pages over the service, for the reps
who work the queue and the people who own the model."""
