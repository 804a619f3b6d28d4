ALTER TAG 'football' IN GROUP topics ADD POSITIVE LABELS ('kf_foot_1', 'kf_foot_2')
