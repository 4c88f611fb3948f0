"""Events as organisers run them: create and edit (`manage`), import from a platform
(`importing`), what follows a change (`organiser_changes`), descriptions (`text`)."""
