"""Normalisation of the forms real deliveries use: numbers, dates, regions, ID numbers."""
