REMOVE EVALUATION ITEMS ('kf_foot_1') OF TAG 'football' IN GROUP topics
