ALTER TAG 'football' IN GROUP topics DROP LABELS ('kf_foot_1')
