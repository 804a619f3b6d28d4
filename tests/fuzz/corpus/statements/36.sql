LABEL EVALUATION OF TAG 'football' IN GROUP topics POSITIVE ('kf_foot_1')
