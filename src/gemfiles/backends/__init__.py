"""Model backends for generateContent and interactions, one a module, chosen per model by settings."""
