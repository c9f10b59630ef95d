"""Least-squares refinement of the bundled simulator against one regridded frame (issue 11 s.2): the forward
model (``model``), its start (``start``), the fit (``fit``) and simulated frames for testing it
(``synthetic``)."""
