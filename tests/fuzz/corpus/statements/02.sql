ALTER TAG GROUP topics DROP TAG 'cooking'
