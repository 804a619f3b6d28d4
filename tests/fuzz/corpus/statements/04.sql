ALTER TAG GROUP topics SET shot_aggregation = 'mean'
