"""Application settings stored in the database, with rows the app creates at start-up."""
