"""The registry read model: public shapes, search, statistics, exports and matchmaking."""
