ALTER TAG GROUP topics RENAME TAG 'football' TO 'soccer'
