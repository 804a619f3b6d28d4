CREATE TAG GROUP Topics ON DATASET news TAGS ('football', 'cooking') WITH (shot_aggregation = 'top3_mean', video_aggregation = 'coverage(0.5)')
