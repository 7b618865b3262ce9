"""The charging session, one module per step of its life (docs/product.md §4):

- `models`: the session (ChargingSession), from PENDING to COMPLETED / FAILED / CANCELLED;
- `start`: a driver's start: open (checks, frozen tariff, the hold), RemoteStart, its answer;
- `follow`: the charger's events on it: the start that links it, meter values (live
  figures, limits), the stop;
- `limits`: hold amounts, cost so far, when a limit is reached;
- `stop`: a driver's or an operator's stop: RemoteStop and its answer;
- `settle`: the bill, exactly once, and the session lock every writer takes;
- `sweeps`: the clockwork (beat): starts never plugged in, the 12 h cap, sessions whose
  charger never reported the end;
- `selectors`: a driver's sessions, active and past, and their figures.

The charger's own records (transactions, meter samples) are `charging.transactions`.
"""
