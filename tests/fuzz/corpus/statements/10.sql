ALTER TAG 'football' IN GROUP topics RENAME TO 'soccer'
