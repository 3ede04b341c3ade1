"""Learning from the user: generations, acceptances and ratings (the events later training uses)."""
