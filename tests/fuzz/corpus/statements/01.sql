ALTER TAG GROUP topics ADD TAG 'weather forecast'
