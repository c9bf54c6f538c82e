# Subtract the memories of examples 11 and 15 from the natural parameters (Sm, −S/2).
idx = [11, 15]
phi = np.column_stack([np.ones(len(idx)), line.X_train[idx, 0]])   # φ_i = (1, x_i), (2, 2)
y_idx = line.y_train[idx]
s2 = blr.noise_var
eta1 = blr.eta1_ - phi.T @ y_idx / s2                  # Sm − Σ φ_i y_i / σ²
eta2 = blr.eta2_ - (-phi.T @ phi / (2 * s2))           # −S/2 − Σ (−φ_i φ_iᵀ / (2σ²))
answer_3 = np.linalg.solve(-2 * eta2, eta1)            # m = S⁻¹ (Sm)
